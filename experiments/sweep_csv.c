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


/* One QoS pair of a point, its replications folded in as they are read:
 * per metric column of the header, the running mean and variance. */
typedef struct {
    long pub, sub;
    char *qos;           /* the first non-empty qos cell, in replication order */
    uint32_t last_rep;   /* the replication that last added a row, + 1 */
    exp_rstat *m;        /* one per header column (only metric columns used) */
} point_pair;

static int pair_cmp(const void *a, const void *b)
{
    const point_pair *x = a, *y = b;
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

/* The pairs of one point, as replications are folded in. */
typedef struct {
    size_t n, cap;
    point_pair *v;
} pair_set;

static void pairs_free(pair_set *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->v[i].qos);
        free(ps->v[i].m);
    }
    free(ps->v);
    *ps = (pair_set){0};
}

/* Folds replication r's results.csv (rep) into the point's pairs: for each
 * pair its first row in rep, for each metric column of head its number, when
 * the cell holds one. Cost: O(rows x (pairs + columns x columns)). */
static void fold_rep(pair_set *ps, const exp_csv_table *rep, uint32_t r, const exp_csv_row *head)
{
    long cp = exp_csv_col(&rep->head, "pub_qos"), cs = exp_csv_col(&rep->head, "sub_qos");
    long cq = exp_csv_col(&rep->head, "qos");
    for (size_t i = 0; i < rep->n_rows; i++) {
        const exp_csv_row *row = &rep->rows[i];
        if ((size_t)cp >= row->n || (size_t)cs >= row->n) continue;
        point_pair key = {.pub = strtol(row->f[cp], NULL, 10), .sub = strtol(row->f[cs], NULL, 10)};
        size_t j = 0;
        while (j < ps->n && pair_cmp(&ps->v[j], &key)) j++;
        if (j == ps->n) {
            if (ps->n == ps->cap) {
                ps->cap = ps->cap ? 2 * ps->cap : 8;
                ps->v = realloc(ps->v, ps->cap * sizeof *ps->v);
                if (!ps->v) abort();
            }
            key.m = calloc(head->n ? head->n : 1, sizeof *key.m);
            if (!key.m) abort();
            ps->v[ps->n++] = key;
        }
        point_pair *pp = &ps->v[j];
        if (pp->last_rep == r + 1) continue;   /* a second row of the pair: the first counts */
        pp->last_rep = r + 1;
        if (!pp->qos && cq >= 0 && (size_t)cq < row->n && *row->f[cq]) pp->qos = exp_strdup(row->f[cq]);
        for (size_t m = 0; m < head->n; m++) {
            if (!is_metric(head->f[m])) continue;
            long c = exp_csv_col(&rep->head, head->f[m]);
            if (c < 0 || (size_t)c >= row->n) continue;
            const char *cell = row->f[c];
            char *end;
            double v = strtod(cell, &end);
            if (end != cell && *end == '\0' && !isnan(v)) exp_rstat_add(&pp->m[m], v);
        }
    }
}

/* Writes point p's rows: one per pair, in (pub_qos, sub_qos) order. */
static void write_point(const exp_sweep *sw, size_t p, pair_set *ps, const exp_csv_row *head, FILE *out)
{
    qsort(ps->v, ps->n, sizeof *ps->v, pair_cmp);
    for (size_t q = 0; q < ps->n; q++) {
        const point_pair *pp = &ps->v[q];
        for (size_t k = 0; k < exp_sweep_keys(sw); k++) {
            const char *v = exp_sweep_value(sw, p, k);
            cJSON *j = cJSON_Parse(v);
            exp_csv_put_cell(out, cJSON_IsString(j) ? j->valuestring : v);
            cJSON_Delete(j);
            fputc(',', out);
        }
        fprintf(out, "%u,%ld,%ld,", (unsigned)exp_sweep_replications(sw), pp->pub, pp->sub);
        exp_csv_put_cell(out, pp->qos ? pp->qos : "");
        /* pass 0: means; pass 1: intervals of the metrics that carry one. */
        for (int pass = 0; pass < 2; pass++) {
            for (size_t m = 0; m < head->n; m++) {
                const char *name = head->f[m];
                if (!is_metric(name) || (pass == 1 && !has_ci(head, name))) continue;
                double mean = NAN, lo = NAN, hi = NAN;
                exp_rstat_ci95(&pp->m[m], &mean, &lo, &hi);
                fputc(',', out);
                if (pass == 0) {
                    exp_csv_put_num(out, mean);
                } else {
                    exp_csv_put_num(out, lo);
                    fputc(',', out);
                    exp_csv_put_num(out, hi);
                }
            }
        }
        fputc('\n', out);
    }
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
    exp_csv_table cols = {0};   /* its head: the column set, from the first complete point */
    exp_csv_row *head = &cols.head;
    size_t missing = 0;
    int rc = 0;
    bool header = false;
    for (size_t p = 1; p <= exp_sweep_points(sw) && rc == 0; p++) {
        uint32_t r = 0;
        while (r < R && exp_jobs_done(jobs_dir, p, r)) r++;
        if (r < R) { missing++; continue; }
        /* One replication's table at a time, folded into the pairs. */
        pair_set ps = {0};
        for (r = 0; r < R && rc == 0; r++) {
            char *f = exp_jobs_path(jobs_dir, p, r, "results.csv");
            exp_csv_table rep;
            if (exp_csv_read(f, &rep) != 0 || exp_csv_col(&rep.head, "pub_qos") < 0 ||
                exp_csv_col(&rep.head, "sub_qos") < 0)
                rc = exp_errf(err, errlen, "%s: cannot read, or lacks the pub_qos and sub_qos columns", f);
            if (rc == 0 && head->n == 0) {
                head->f = calloc(rep.head.n, sizeof *head->f);
                if (!head->f) abort();
                for (size_t i = 0; i < rep.head.n; i++) head->f[head->n++] = exp_strdup(rep.head.f[i]);
            }
            if (rc == 0) fold_rep(&ps, &rep, r, head);
            exp_csv_table_free(&rep);
            free(f);
        }
        if (rc == 0 && !header) {
            put_header(sw, head, out);
            header = true;
        }
        if (rc == 0) write_point(sw, p, &ps, head, out);
        pairs_free(&ps);
    }
    if (rc == 0 && !header) put_header(sw, head, out);
    exp_csv_table_free(&cols);
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
