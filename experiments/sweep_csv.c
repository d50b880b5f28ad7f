/* Aggregation of a sweep's job results into sweep.csv: per point and QoS pair, means and 95% intervals over replications. */
#include "experiments/sweep_csv.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "experiments/csv.h"
#include "experiments/fsutil.h"
#include "experiments/stats.h"
#include "experiments/str.h"
#include "experiments/sweep_jobs.h"

#define ERRLEN 1024

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && !strcmp(s + a - b, suffix);
}


typedef struct { long pub, sub; } qos_pair;

static int pair_cmp(const void *a, const void *b)
{
    const qos_pair *x = a, *y = b;
    if (x->pub != y->pub) return x->pub < y->pub ? -1 : 1;
    if (x->sub != y->sub) return x->sub < y->sub ? -1 : 1;
    return 0;
}

/* The metric columns: every column of results.csv except the identifying ones
 * and the per-run confidence intervals (recomputed across replications). */
static bool is_metric(const char *name)
{
    static const char *const ids[] = {"name", "seed", "replications", "pub_qos", "sub_qos", "qos"};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
        if (!strcmp(name, ids[i])) return false;
    return !ends_with(name, "_ci_lo") && !ends_with(name, "_ci_hi");
}

static bool has_ci(const exp_csv_row *head, const char *metric)
{
    char *lo = exp_strf("%s_ci_lo", metric);
    bool yes = exp_csv_col(head, lo) >= 0;
    free(lo);
    return yes;
}

static void write_point(const exp_sweep *sw, size_t p, const exp_csv_table *reps, const exp_csv_row *head, FILE *out)
{
    uint32_t R = exp_sweep_replications(sw);
    /* The QoS pairs present in any replication, in (pub_qos, sub_qos) order. */
    size_t n_pairs = 0, cap = 0;
    qos_pair *pairs = NULL;
    for (uint32_t r = 0; r < R; r++) {
        long cp = exp_csv_col(&reps[r].head, "pub_qos"), cs = exp_csv_col(&reps[r].head, "sub_qos");
        for (size_t i = 0; cp >= 0 && cs >= 0 && i < reps[r].n_rows; i++) {
            const exp_csv_row *row = &reps[r].rows[i];
            if ((size_t)cp >= row->n || (size_t)cs >= row->n) continue;
            qos_pair q = {strtol(row->f[cp], NULL, 10), strtol(row->f[cs], NULL, 10)};
            size_t j = 0;
            while (j < n_pairs && pair_cmp(&pairs[j], &q)) j++;
            if (j < n_pairs) continue;
            if (n_pairs == cap) {
                cap = cap ? 2 * cap : 8;
                pairs = realloc(pairs, cap * sizeof *pairs);
                if (!pairs) abort();
            }
            pairs[n_pairs++] = q;
        }
    }
    qsort(pairs, n_pairs, sizeof *pairs, pair_cmp);

    const exp_csv_row **rowof = calloc(R, sizeof *rowof);
    double *x = calloc(R, sizeof *x);
    if (!rowof || !x) abort();
    for (size_t q = 0; q < n_pairs; q++) {
        for (uint32_t r = 0; r < R; r++) {
            rowof[r] = NULL;
            long cp = exp_csv_col(&reps[r].head, "pub_qos"), cs = exp_csv_col(&reps[r].head, "sub_qos");
            for (size_t i = 0; cp >= 0 && cs >= 0 && i < reps[r].n_rows; i++) {
                const exp_csv_row *row = &reps[r].rows[i];
                if ((size_t)cp < row->n && (size_t)cs < row->n &&
                    strtol(row->f[cp], NULL, 10) == pairs[q].pub && strtol(row->f[cs], NULL, 10) == pairs[q].sub) {
                    rowof[r] = row;
                    break;
                }
            }
        }
        for (size_t k = 0; k < exp_sweep_keys(sw); k++) {
            const char *v = exp_sweep_value(sw, p, k);
            cJSON *j = cJSON_Parse(v);
            exp_csv_put_cell(out, cJSON_IsString(j) ? j->valuestring : v);
            cJSON_Delete(j);
            fputc(',', out);
        }
        const char *qos = "";
        for (uint32_t r = 0; r < R && !*qos; r++) {
            long c = exp_csv_col(&reps[r].head, "qos");
            if (rowof[r] && c >= 0 && (size_t)c < rowof[r]->n) qos = rowof[r]->f[c];
        }
        fprintf(out, "%u,%ld,%ld,", (unsigned)R, pairs[q].pub, pairs[q].sub);
        exp_csv_put_cell(out, qos);
        /* pass 0: means; pass 1: intervals of the metrics that carry one. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t m = 0; m < head->n; m++) {
                const char *name = head->f[m];
                if (!is_metric(name) || (pass == 1 && !has_ci(head, name))) continue;
                size_t n = 0;
                for (uint32_t r = 0; r < R; r++) {
                    long c = exp_csv_col(&reps[r].head, name);
                    if (!rowof[r] || c < 0 || (size_t)c >= rowof[r]->n) continue;
                    const char *cell = rowof[r]->f[c];
                    char *end;
                    double v = strtod(cell, &end);
                    if (end != cell && *end == '\0' && !isnan(v)) x[n++] = v;
                }
                double mean = NAN, lo = NAN, hi = NAN;
                exp_ci95(x, n, &mean, &lo, &hi);
                if (pass == 0) {
                    fputc(',', out);
                    exp_csv_put_num(out, mean);
                } else {
                    fputc(',', out);
                    exp_csv_put_num(out, lo);
                    fputc(',', out);
                    exp_csv_put_num(out, hi);
                }
            }
        }
        fputc('\n', out);
    }
    free(x);
    free(rowof);
    free(pairs);
}

/* The header line of sweep.csv: the vary keys, the identifying columns, then
 * the metric columns of results.csv (head; none when no point is complete)
 * and the intervals of those that carry one. */
static void put_header(const exp_sweep *sw, const exp_csv_row *head, FILE *out)
{
    for (size_t k = 0; k < exp_sweep_keys(sw); k++) {
        exp_csv_put_cell(out, exp_sweep_key(sw, k));
        fputc(',', out);
    }
    fputs("replications,pub_qos,sub_qos,qos", out);
    for (size_t m = 0; m < head->n; m++)
        if (is_metric(head->f[m])) fprintf(out, ",%s", head->f[m]);
    for (size_t m = 0; m < head->n; m++)
        if (is_metric(head->f[m]) && has_ci(head, head->f[m]))
            fprintf(out, ",%s_ci_lo,%s_ci_hi", head->f[m], head->f[m]);
    fputc('\n', out);
}

int exp_sweep_write_csv(const exp_sweep *sw, const char *jobs_dir, FILE *out,
                        size_t *incomplete, char *err, size_t errlen)
{
    uint32_t R = exp_sweep_replications(sw);
    exp_csv_table *reps = calloc(R, sizeof *reps);
    if (!reps) abort();
    exp_csv_table cols = {0};   /* its head: the column set, from the first complete point */
    exp_csv_row *head = &cols.head;
    size_t missing = 0;
    int rc = 0;
    for (size_t p = 1; p <= exp_sweep_points(sw) && rc == 0; p++) {
        uint32_t r = 0;
        while (r < R && exp_jobs_done(jobs_dir, p, r)) r++;
        if (r < R) { missing++; continue; }
        for (r = 0; r < R && rc == 0; r++) {
            char *f = exp_jobs_path(jobs_dir, p, r, "results.csv");
            if (exp_csv_read(f, &reps[r]) != 0 || exp_csv_col(&reps[r].head, "pub_qos") < 0 ||
                exp_csv_col(&reps[r].head, "sub_qos") < 0)
                rc = exp_errf(err, errlen, "%s: cannot read, or lacks the pub_qos and sub_qos columns", f);
            free(f);
        }
        if (rc == 0 && head->n == 0) {
            head->f = calloc(reps[0].head.n, sizeof *head->f);
            if (!head->f) abort();
            for (size_t i = 0; i < reps[0].head.n; i++) head->f[head->n++] = exp_strdup(reps[0].head.f[i]);
            put_header(sw, head, out);
        }
        if (rc == 0) write_point(sw, p, reps, head, out);
        for (r = 0; r < R; r++) exp_csv_table_free(&reps[r]);
    }
    if (rc == 0 && head->n == 0) put_header(sw, head, out);
    exp_csv_table_free(&cols);
    free(reps);
    if (incomplete) *incomplete = missing;
    return rc;
}

int exp_sweep_finish(const exp_sweep *sw, const char *out_dir, size_t *incomplete)
{
    char *jobs = exp_strf("%s/jobs", out_dir);
    char *csvp = exp_strf("%s/sweep.csv", out_dir);
    char err[ERRLEN];
    char *buf = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&buf, &len);
    if (!mem) abort();
    int rc = exp_sweep_write_csv(sw, jobs, mem, incomplete, err, sizeof err);
    fclose(mem);
    if (rc) {
        fprintf(stderr, "mqttsim: %s\n", err);
        rc = 1;
    } else if (exp_fs_write_atomic(csvp, buf, len) != 0) {
        fprintf(stderr, "mqttsim: cannot write %s: %s\n", csvp, strerror(errno));
        rc = 1;
    }
    free(buf);
    char *cdf_src = exp_jobs_path(jobs, exp_sweep_cdf_point(sw), 0, "latency_cdf.csv");
    if (rc == 0 && exp_jobs_done(jobs, exp_sweep_cdf_point(sw), 0) && exp_fs_is_file(cdf_src)) {
        char *dst = exp_strf("%s/latency_cdf.csv", out_dir);
        char *text = exp_fs_read(cdf_src, &len);
        if (!text || exp_fs_write_atomic(dst, text, len) != 0) {
            fprintf(stderr, "mqttsim: cannot copy %s to %s\n", cdf_src, dst);
            rc = 1;
        }
        free(text);
        free(dst);
    }
    free(cdf_src);
    free(csvp);
    free(jobs);
    return rc;
}
