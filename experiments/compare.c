/* `mqttsim compare`: reads two results.json, puts each QoS pair's figures side by side with intervals, and judges each. */
#define _GNU_SOURCE
#include "experiments/compare.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cjson/cJSON.h>
#include <gsl/gsl_cdf.h>

#define LAT_ABS_MS 0.5   /* half of the 1 ms real-time band (see compare.h) */
#define LAT_REL 0.05     /* half of the 10% run-to-run band */

typedef enum { F_BINOMIAL, F_POISSON, F_LATENCY } fig_kind;

typedef struct {
    const char *name;     /* as in results.csv */
    const char *key;      /* in a group of results.json */
    const char *count;    /* the count behind a ratio */
    fig_kind kind;
} figure;

static const figure FIGS[] = {
    {"loss_ratio", "loss_ratio", "lost", F_BINOMIAL},
    {"dup_ratio", "dup_ratio", "duplicates", F_POISSON},
    {"out_of_order_ratio", "out_of_order_ratio", "out_of_order", F_BINOMIAL},
    {"latency_p50_ms", "p50", NULL, F_LATENCY},
    {"latency_p90_ms", "p90", NULL, F_LATENCY},
    {"latency_p99_ms", "p99", NULL, F_LATENCY},
};
#define N_FIGS (sizeof FIGS / sizeof FIGS[0])

typedef struct {
    char path[4096];
    cJSON *root, *groups;
    int reps;
} side;

/* Loads DIR/results.json (or DIR itself when it is a file). 0, or 2 after
 * printing why. */
static int load_side(const char *arg, side *s)
{
    struct stat st;
    if (stat(arg, &st) == 0 && S_ISDIR(st.st_mode))
        snprintf(s->path, sizeof s->path, "%s/results.json", arg);
    else
        snprintf(s->path, sizeof s->path, "%s", arg);
    FILE *f = fopen(s->path, "r");
    if (!f) {
        fprintf(stderr, "mqttsim compare: %s: %s (expected the output directory of 'mqttsim "
                        "run' or 'mqttsim testbed')\n", s->path, strerror(errno));
        return 2;
    }
    char *text = NULL;
    size_t len = 0, cap = 0, k;
    char buf[65536];
    while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
        if (len + k + 1 > cap) {
            cap = (len + k + 1) * 2;
            char *nt = realloc(text, cap);
            if (!nt) {
                free(text);
                fclose(f);
                fprintf(stderr, "mqttsim compare: out of memory\n");
                return 2;
            }
            text = nt;
        }
        memcpy(text + len, buf, k);
        len += k;
    }
    fclose(f);
    s->root = text ? (text[len] = '\0', cJSON_Parse(text)) : NULL;
    free(text);
    s->groups = cJSON_GetObjectItemCaseSensitive(s->root, "groups");
    if (!cJSON_IsArray(s->groups)) {
        fprintf(stderr, "mqttsim compare: %s: %s\n", s->path,
                s->root ? "no \"groups\" array: not a results file of 'mqttsim run'"
                        : "not valid JSON");
        return 2;
    }
    const cJSON *r = cJSON_GetObjectItemCaseSensitive(s->root, "replications");
    s->reps = cJSON_IsNumber(r) ? r->valueint : 1;
    return 0;
}

static const cJSON *find_group(const side *s, int p, int q)
{
    const cJSON *g;
    cJSON_ArrayForEach(g, s->groups) {
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(g, "pub_qos");
        const cJSON *b = cJSON_GetObjectItemCaseSensitive(g, "sub_qos");
        if (cJSON_IsNumber(a) && cJSON_IsNumber(b) && a->valueint == p && b->valueint == q)
            return g;
    }
    return NULL;
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* One side of one figure: the value and its interval, and where the
 * interval comes from. */
typedef struct {
    double v, lo, hi;
    const char *how;     /* "ci95", "exact", "band", or NULL: no value */
} cell;

/*
 * Exact 95% intervals of a count x: Clopper-Pearson for x of n trials,
 * [B(0.025; x, n-x+1), B(0.975; x+1, n-x)], and Garwood for a Poisson count,
 * [chi2(0.025; 2x)/2, chi2(0.975; 2x+2)/2], each divided by n for the ratio.
 */
static void exact_interval(fig_kind kind, double x, double n, double *lo, double *hi)
{
    if (kind == F_BINOMIAL) {
        *lo = x > 0 ? gsl_cdf_beta_Pinv(0.025, x, n - x + 1) : 0;
        *hi = x < n ? gsl_cdf_beta_Pinv(0.975, x + 1, n - x) : 1;
    } else {
        *lo = x > 0 ? gsl_cdf_chisq_Pinv(0.025, 2 * x) / 2 / n : 0;
        *hi = gsl_cdf_chisq_Pinv(0.975, 2 * x + 2) / 2 / n;
    }
}

static cell get_cell(const side *s, const cJSON *g, const figure *f)
{
    cell c = {NAN, NAN, NAN, NULL};
    const cJSON *ci = cJSON_GetObjectItemCaseSensitive(g, "ci95");
    if (f->kind == F_LATENCY) {
        c.v = num(cJSON_GetObjectItemCaseSensitive(g, "latency_ms"), f->key);
        ci = cJSON_GetObjectItemCaseSensitive(ci, "latency_ms");
    } else {
        c.v = num(g, f->key);
    }
    if (isnan(c.v))
        return c;
    const cJSON *pair = cJSON_GetObjectItemCaseSensitive(ci, f->key);
    if (s->reps > 1 && cJSON_GetArraySize(pair) == 2 &&
        cJSON_IsNumber(cJSON_GetArrayItem(pair, 0)) && cJSON_IsNumber(cJSON_GetArrayItem(pair, 1))) {
        c.lo = cJSON_GetArrayItem(pair, 0)->valuedouble;
        c.hi = cJSON_GetArrayItem(pair, 1)->valuedouble;
        c.how = "ci95";
        /* A latency is never known better than the real-time band, however
         * alike the replications: a simulated one that is the same in every
         * replication has a CI of zero width, and a real one a CI a tenth
         * of the band wide around a value the relay and the hosts' wake-ups
         * shift by about as much. The interval is the CI, or the band where
         * the band is wider. */
        if (f->kind == F_LATENCY) {
            double tol = fmax(LAT_ABS_MS, LAT_REL * fabs(c.v));
            if (c.v - tol < c.lo || c.v + tol > c.hi) {
                c.lo = fmin(c.lo, c.v - tol);
                c.hi = fmax(c.hi, c.v + tol);
                c.how = "ci95+band";
            }
        }
        return c;
    }
    if (f->kind == F_LATENCY) {
        double tol = fmax(LAT_ABS_MS, LAT_REL * fabs(c.v));
        c.lo = c.v - tol;
        c.hi = c.v + tol;
        c.how = "band";
        return c;
    }
    double x = num(g, f->count), n = num(g, "expected");
    if (f->kind == F_BINOMIAL && strcmp(f->count, "out_of_order") == 0)
        n = c.v > 0 ? x / c.v : num(g, "unique"); /* the ratio's own denominator */
    if (isnan(x) || !(n > 0) || x < 0) {
        c.lo = c.hi = c.v; /* no count to judge by: the value alone */
        c.how = "value";
        return c;
    }
    x = round(x);
    n = round(n);
    exact_interval(f->kind, x, n, &c.lo, &c.hi);
    c.how = "exact";
    return c;
}

static void print_cell(char *buf, size_t len, cell c)
{
    if (!c.how)
        snprintf(buf, len, "-");
    else
        snprintf(buf, len, "%.4g [%.4g, %.4g]", c.v, c.lo, c.hi);
}

static const char HELP[] =
    "usage: mqttsim compare DIR_A DIR_B [--csv]\n"
    "Puts the results of two runs side by side (e.g. 'mqttsim run' and 'mqttsim testbed' of one\n"
    "config): for every QoS pair present in both, loss, duplicates, out-of-order (when both\n"
    "have it) and latency p50/p90/p99, each with an interval, and a verdict per figure:\n"
    "agree when the intervals overlap, else differ by B - A.\n"
    "Intervals: with replications, the 95% confidence interval over replications; from a\n"
    "single run, the exact 95% interval of the count behind a ratio (Clopper-Pearson for\n"
    "loss and out-of-order, Poisson for duplicates) and, for a latency quantile, the value\n"
    "-/+ max(0.5 ms, 5%) (two single runs agree within max(1 ms, ~10%)); with replications,\n"
    "a latency's interval is its CI widened to that band where the band is wider.\n\n"
    "options:\n"
    "  --csv        print CSV rows instead of the table (pub_qos, sub_qos, qos, figure,\n"
    "               a, a_lo, a_hi, a_interval, b, b_lo, b_hi, b_interval, diff, verdict)\n"
    "  -h, --help   show this help\n"
    "Exit status: 0 every figure agrees, 1 some figure differs, 2 bad input (missing or\n"
    "unreadable results.json, no QoS pair in common, bad usage).\n";

int exp_cmd_compare(int argc, char **argv)
{
    static const struct option LONG[] = {{"csv", no_argument, NULL, 'c'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    bool csv = false;
    int opt;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", LONG, NULL)) != -1) {
        if (opt == 'c') {
            csv = true;
        } else if (opt == 'h') {
            fputs(HELP, stdout);
            return 0;
        } else {
            fprintf(stderr, "mqttsim compare: unknown option '%s'\nusage: mqttsim compare DIR_A "
                            "DIR_B [--csv]\nTry 'mqttsim compare --help' for more.\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (argc - optind != 2) {
        fprintf(stderr, "mqttsim compare: expected two result directories, got %d\n"
                        "usage: mqttsim compare DIR_A DIR_B [--csv]\n", argc - optind);
        return 2;
    }
    side a = {0}, b = {0};
    int status = load_side(argv[optind], &a);
    if (!status)
        status = load_side(argv[optind + 1], &b);
    if (status)
        goto out;
    if (csv)
        printf("pub_qos,sub_qos,qos,figure,a,a_lo,a_hi,a_interval,b,b_lo,b_hi,b_interval,diff,"
               "verdict\n");
    else
        printf("A: %s (%d replication%s)\nB: %s (%d replication%s)\n%-3s %-3s %-3s %-19s %-30s "
               "%-30s %s\n", a.path, a.reps, a.reps == 1 ? "" : "s", b.path, b.reps,
               b.reps == 1 ? "" : "s", "pub", "sub", "qos", "figure", "A", "B", "verdict");
    int common = 0, differ = 0;
    for (int p = 0; p < 3; p++)
        for (int q = 0; q < 3; q++) {
            const cJSON *ga = find_group(&a, p, q), *gb = find_group(&b, p, q);
            if (!ga || !gb) {
                if ((ga || gb) && !csv)
                    printf("%3d %3d %3d (only in %s)\n", p, q, p < q ? p : q, ga ? "A" : "B");
                continue;
            }
            common++;
            for (size_t i = 0; i < N_FIGS; i++) {
                const figure *f = &FIGS[i];
                cell ca = get_cell(&a, ga, f), cb = get_cell(&b, gb, f);
                if (!ca.how && !cb.how)
                    continue; /* neither has it: out-of-order before the metric exists */
                const char *verdict;
                double diff = cb.v - ca.v;
                if (!ca.how || !cb.how)
                    verdict = "n/a";
                else if (ca.lo <= cb.hi && cb.lo <= ca.hi)
                    verdict = "agree";
                else
                    verdict = "differ", differ++;
                if (csv) {
                    printf("%d,%d,%d,%s", p, q, p < q ? p : q, f->name);
                    cell cs[2] = {ca, cb};
                    for (int k = 0; k < 2; k++) {
                        if (cs[k].how)
                            printf(",%.12g,%.12g,%.12g,%s", cs[k].v, cs[k].lo, cs[k].hi, cs[k].how);
                        else
                            printf(",,,,");
                    }
                    if (isnan(diff))
                        printf(",,%s\n", verdict);
                    else
                        printf(",%.12g,%s\n", diff, verdict);
                } else {
                    char sa[64], sb[64], v[128];
                    print_cell(sa, sizeof sa, ca);
                    print_cell(sb, sizeof sb, cb);
                    if (strcmp(verdict, "differ") == 0) {
                        double gap = ca.hi < cb.lo ? cb.lo - ca.hi : ca.lo - cb.hi;
                        snprintf(v, sizeof v, "differ: B-A = %+.4g (intervals %.4g apart)", diff, gap);
                    } else {
                        snprintf(v, sizeof v, "%s", verdict);
                    }
                    printf("%3d %3d %3d %-19s %-30s %-30s %s\n", p, q, p < q ? p : q, f->name, sa,
                           sb, v);
                }
            }
        }
    if (!common) {
        fprintf(stderr, "mqttsim compare: %s and %s have no QoS pair in common\n", a.path, b.path);
        status = 2;
    } else {
        status = differ ? 1 : 0;
        if (!csv)
            printf("%d figure%s differ%s\n", differ, differ == 1 ? "" : "s", differ == 1 ? "s" : "");
    }
out:
    cJSON_Delete(a.root);
    cJSON_Delete(b.root);
    return status;
}
